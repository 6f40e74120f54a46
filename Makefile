# k8ts: `make up` runs the main job, `make test` runs every test. Both set up what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Debian packages k8ts uses, by name: the datastore, the node runtime, the network tools, the benchmarks;
# zstd for zstd layers; docker-registry, apache2-utils (htpasswd) and python3.11 (test images) for the image
# tests; containerd and curl as the image benchmark's anchors; python3-kubernetes, the official Python client
# the e2e suite drives; prometheus, the real scraper the metrics test starts.
DEBIAN_PACKAGES := etcd-server etcd-client runc busybox-static nftables iproute2 \
	containernetworking-plugins conntrack tcpdump iperf3 dnsperf dnsmasq-base openssl ca-certificates \
	zstd docker-registry apache2-utils containerd python3.11-minimal curl python3-kubernetes chromium \
	prometheus

.PHONY: help setup debs deps build up down test bench fmt lint clean

help:
	@echo "make up     set up, then start k8ts (see README.md)"
	@echo "make test   set up, then run every test"
	@echo "make bench  set up, then run the benchmarks in bench/"
	@echo "make setup  install Debian packages, npm dependencies and build (idempotent)"
	@echo "make lint   run the linter and the format check (biome ci; make test runs it too)"
	@echo "make fmt    format the sources with biome (biome.jsonc)"

setup: debs deps build

debs:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "k8ts setup: need root to apt-get install $$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

# tsc, then the OpenAPI definitions read from the kubernetes-types declarations (dist/generated).
build: deps
	rm -rf dist
	npx tsc -p tsconfig.json
	node dist/src/apiserver/openapi/generate.js
	node scripts/build-ui.mjs
	node scripts/build-cli.mjs

up: setup
	./scripts/up.sh

down:
	./bin/k8ts down

test: setup
	node scripts/run-tests.mjs

# The linter alone (make test runs it as one of its checks), and the formatter, which rewrites files.
lint: deps
	npx biome ci --error-on-warnings

fmt: deps
	npx biome format --write

bench: setup
	node scripts/run-bench.mjs

clean:
	rm -rf dist
