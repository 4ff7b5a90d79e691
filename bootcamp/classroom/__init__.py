"""Class grading: a roster of learners, each graded in their own account, into gradebook formats.

roster.py reads and checks the roster; access.py turns a roster row into credentials and
shares one client per service across the class; run.py collects every learner, then judges
them all in one graders' run; outputs.py writes the files; merge.py joins shards.
"""
