# make test-docker's stand-in for redis:7: Debian's redis-server from the
# cached services root, listening on every address of the container as the
# official image does, without persistence.
FROM hp-test/services
USER 65534:65534
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", "/tmp"]
