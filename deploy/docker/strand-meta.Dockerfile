# strand-meta: a member of the raft-replicated metadata service.
# Built by scripts/images from a static binary (CGO_ENABLED=0); the build
# context holds the binary and an empty directory named "state".
# Configure it through STRAND_* environment variables or flags (--help);
# the ones below are the container defaults.
FROM scratch
COPY strand-meta /usr/local/bin/strand-meta
COPY --chown=65532:65532 state/ /var/lib/strand/
USER 65532:65532
ENV STRAND_LISTEN=0.0.0.0:7001 \
    STRAND_PEER_LISTEN=0.0.0.0:7101 \
    STRAND_DATA_DIR=/var/lib/strand
# 7001: API, /healthz, /metrics; 7101: raft peer transport.
EXPOSE 7001/tcp 7101/tcp
VOLUME ["/var/lib/strand"]
ENTRYPOINT ["/usr/local/bin/strand-meta"]
