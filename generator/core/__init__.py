"""Pure rules: models, status, codes and tokens; no files, no clock."""
