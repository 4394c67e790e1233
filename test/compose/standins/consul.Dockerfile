# Stand-in for hashicorp/consul (see build.sh): the agent make consul builds, the official
# image's entrypoint behaviour, its folders and ports.
ARG BASE
FROM ${BASE}
COPY consul /bin/consul
COPY consul-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# The official image's consul user is 100:1000 (Kubernetes manifests run it as that user);
# Debian's postgres, also in the base, gives up uid 100.
RUN usermod -u 999 postgres && groupadd -g 1000 consul && useradd -u 100 -g consul -d /consul -M consul && \
    mkdir -p /consul/data /consul/config && chown -R consul:consul /consul
VOLUME /consul/data
EXPOSE 8300 8301 8301/udp 8302 8302/udp 8500 8600 8600/udp
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["agent", "-dev", "-client", "0.0.0.0"]
