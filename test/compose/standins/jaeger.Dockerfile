# Stand-in for jaegertracing/jaeger (see build.sh): the jaeger make jaeger builds (v1.75.0, of
# which the image's 2.12.0 is the v2 release) where the image has it, run the same way (its
# built-in all-in-one configuration, listening on every address), and busybox's wget, which the
# image's Alpine has.
ARG BASE
FROM ${BASE}
COPY jaeger /cmd/jaeger/jaeger-linux
RUN ln -s /bin/busybox /usr/local/bin/wget
ENV JAEGER_LISTEN_HOST=0.0.0.0
EXPOSE 4317 4318 16686 13133
VOLUME ["/tmp"]
USER 10001
ENTRYPOINT ["/cmd/jaeger/jaeger-linux"]
