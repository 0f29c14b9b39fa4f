"""Example: a small game web API instrumented with the eventlake tracker SDK."""
