"""AWS Bootcamp Labs: provision the bootcamp's hands-on labs and grade every step."""

__version__ = "0.1.0"
