# gridserve image: Debian 12 packages only, built by the project's own scripts.
#   docker build -t gridserve .
#   docker run -p 8001:8001 -p 8002:8002 -v $PWD/models/repository:/models gridserve
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRIDSERVE_BUILD_TESTS=OFF \
    && cmake --build build --target gridserve gridserve-cli

FROM debian:12
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libtorch1.13 libopenblas0-pthread libjemalloc2 libgrpc++1.51 libprotobuf32 libspdlog1.10 libcpp-httplib0.11 \
      libprometheus-cpp-core1.0 \
      libsqlite3-0 libssl3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/server/gridserve /src/build/client/gridserve-cli /usr/local/bin/
EXPOSE 8001 8002
ENTRYPOINT ["gridserve", "--model-repository=/models"]
