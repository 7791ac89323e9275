"""MAP as regularization: KKT checks, explain(), regularization paths and cross-validation."""
