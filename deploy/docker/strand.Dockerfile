# strand: the operator CLI and load tester, for running next to a cluster on
# its network (docker run --rm -i --network strand strand/strand:dev ...).
# Built by scripts/images from a static binary (CGO_ENABLED=0).
FROM scratch
COPY strand /usr/local/bin/strand
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/strand"]
CMD ["--help"]
