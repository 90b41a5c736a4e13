# strand-controller: failure detection, partition leader election, placement.
# Stateless. Built by scripts/images from a static binary (CGO_ENABLED=0).
# Configure it through STRAND_* environment variables or flags (--help);
# STRAND_ADVERTISE and STRAND_GOSSIP_ADVERTISE must be set to addresses other
# containers reach (the defaults below bind every interface).
FROM scratch
COPY strand-controller /usr/local/bin/strand-controller
USER 65532:65532
ENV STRAND_LISTEN=0.0.0.0:7201 \
    STRAND_GOSSIP_BIND=0.0.0.0:7301
# 7201: admin API, /healthz, /metrics; 7301: gossip (TCP and UDP).
EXPOSE 7201/tcp 7301/tcp 7301/udp
ENTRYPOINT ["/usr/local/bin/strand-controller"]
