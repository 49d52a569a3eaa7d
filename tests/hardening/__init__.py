"""Hardening tests (issue 6): hostile answers, caps, leaks, lifetime, threads, secrets."""
