# strand-data: a data node (partition logs, produce, zero-copy fetch).
# Built by scripts/images from a static binary (CGO_ENABLED=0); the build
# context holds the binary and an empty directory named "state".
# Configure it through STRAND_* environment variables or flags (--help);
# STRAND_ADVERTISE_ADDR must be an address clients and other data nodes reach.
FROM scratch
COPY strand-data /usr/local/bin/strand-data
COPY --chown=65532:65532 state/ /var/lib/strand/
USER 65532:65532
ENV STRAND_LISTEN=0.0.0.0:9001 \
    STRAND_GOSSIP_BIND=0.0.0.0:9101 \
    STRAND_DATA_DIR=/var/lib/strand
# 9001: produce, fetch, metadata, /healthz, /metrics; 9101: gossip (TCP and UDP).
EXPOSE 9001/tcp 9101/tcp 9101/udp
VOLUME ["/var/lib/strand"]
ENTRYPOINT ["/usr/local/bin/strand-data"]
