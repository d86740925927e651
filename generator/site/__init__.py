"""The published site: the brand portal and personal member pages under output/site."""
