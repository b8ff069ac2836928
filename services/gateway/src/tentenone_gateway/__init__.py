"""tentenone API gateway."""
