"""The embedded sandbox: a moto-based AWS API server the project runs on 127.0.0.1."""

SERVICE_NAME = "aws-bootcamp-sandbox"
