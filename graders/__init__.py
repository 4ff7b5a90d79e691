"""The graders: one pytest module per lab (test_labN.py), one test per step, plus the plugin."""
