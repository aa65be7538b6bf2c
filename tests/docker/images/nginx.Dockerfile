# make test-docker's stand-in for nginx:1.27: Debian's nginx from the cached
# services root; examples/compose.yaml mounts its server block into conf.d.
FROM hp-test/services
RUN rm -f /etc/nginx/sites-enabled/default
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
