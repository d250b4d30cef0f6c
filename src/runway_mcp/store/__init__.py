"""The local record of the tasks this server creates (SQLite), which survives restarts."""
