"""AWS Lambda entry points. Thin: parse the event, call one function, shape the reply."""
