"""The local mesh: embedded servers, services and the gateway without Docker."""
