"""Quality stages: filters that drop documents and taggers that score them."""
