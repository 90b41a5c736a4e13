# strand-coordinator: consumer groups and committed offsets. Stateless (the
# offsets live in __consumer_offsets on the data plane). Built by
# scripts/images from a static binary (CGO_ENABLED=0).
# Configure it through STRAND_* environment variables or flags (--help);
# set the advertised addresses to ones other containers reach.
FROM scratch
COPY strand-coordinator /usr/local/bin/strand-coordinator
USER 65532:65532
ENV STRAND_LISTEN=0.0.0.0:7401 \
    STRAND_GOSSIP_BIND=0.0.0.0:7501
# 7401: group API, /healthz, /metrics; 7501: gossip (TCP and UDP).
EXPOSE 7401/tcp 7501/tcp 7501/udp
ENTRYPOINT ["/usr/local/bin/strand-coordinator"]
