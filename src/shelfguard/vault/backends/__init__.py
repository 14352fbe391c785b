"""Database backends the keystore alias needs beyond Django's own."""
