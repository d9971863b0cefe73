"""Berth's data plane: loads a build and serves predictions. No Django imports here."""
