"""Operations: backups and restores of an installation, the worker's heartbeat and the readiness check."""
