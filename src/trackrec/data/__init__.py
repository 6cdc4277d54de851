"""Data loading, schema and synthetic data generation."""
