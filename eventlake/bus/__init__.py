"""bus stage."""
