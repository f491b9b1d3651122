"""Offline evaluation: uplift metrics, policy value against baselines, A/B test design/readout."""
