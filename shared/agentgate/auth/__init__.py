"""Keys, hashing, scopes, the authorizer's decision and the principal a route acts as."""
