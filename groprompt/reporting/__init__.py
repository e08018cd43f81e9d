"""Reporting: tables and figures built from metric files (and the contact sheets that show a video's task)."""
