"""DynamoDB models (PynamoDB) and the queries on them. No HTTP, no protocol formats here."""
