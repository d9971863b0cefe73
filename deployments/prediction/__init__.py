"""The Prediction tab's domain: parse what the user typed, send it through the gateway, keep history, run cases.

`gateway.py` is the one seam that talks HTTP to a deployment's gateway; the rest is plain logic.
"""
