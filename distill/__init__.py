"""Distillation: teacher traces, verification, student training and evaluation."""
