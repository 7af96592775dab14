"""The Thai web application: server-rendered pages for every role, a client of the submission and tracker APIs."""
