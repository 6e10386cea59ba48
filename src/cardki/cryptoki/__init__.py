"""The Cryptoki model: constants, errors, attributes, mechanisms, sessions, objects, the engine."""
