"""Staff tools: shop imports, the staff report, new projects (init)."""
