# Every task a person runs. Tools are pinned Go modules, installed on first
# use under $(TOOLS) so a fresh machine needs nothing but Go.

GO           ?= go
TOOLS        ?= $(HOME)/.cache/s3ferry/tools
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS      := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Packages: ARCH is a Go architecture; the package version is VERSION made
# valid for deb and rpm (see packaging/version.sh).
ARCH         ?= $(shell $(GO) env GOARCH)
PKG_VERSION  ?= $(shell packaging/version.sh '$(VERSION)')
RPM_ARCH      = $(or $(if $(filter amd64,$(ARCH)),x86_64),$(if $(filter arm64,$(ARCH)),aarch64),$(ARCH))
DIST         ?= dist
NFPM_ENV      = S3FERRY_ARCH=$(ARCH) S3FERRY_PKG_VERSION=$(PKG_VERSION) S3FERRY_BINARY=bin/linux-$(ARCH)/s3ferry

MINIO_VERSION       := v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION          := v0.0.0-20250313080218-cf909e1063a9
NFPM_VERSION        := v2.44.0
STATICCHECK_VERSION := v0.8.2
PROMTOOL_VERSION    := v0.303.0
S5CMD_VERSION       := v2.3.0
# The other S3 servers of the compatibility tests (docs/compatibility.md).
VERSITYGW_VERSION   := v1.8.0
SEAWEEDFS_VERSION   := v0.0.0-20261109003541-7506e5f91cd6

MINIO       := $(TOOLS)/minio-$(MINIO_VERSION)/minio
MC          := $(TOOLS)/mc-$(MC_VERSION)/mc
NFPM        := $(TOOLS)/nfpm-$(NFPM_VERSION)/nfpm
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
PROMTOOL    := $(TOOLS)/promtool-$(PROMTOOL_VERSION)/promtool
S5CMD       := $(TOOLS)/s5cmd-$(S5CMD_VERSION)/s5cmd
VERSITYGW   := $(TOOLS)/versitygw-$(VERSITYGW_VERSION)/versitygw
WEED        := $(TOOLS)/weed-$(SEAWEEDFS_VERSION)/weed

# Tests find the tools through these; under CI=true a test that needs MinIO
# (or VersityGW, which make test builds too) fails instead of skipping.
# SeaweedFS takes long to build: only make test-compat builds and exports it,
# and without it its tests skip, under CI=true too.
export S3FERRY_MINIO := $(MINIO)
export S3FERRY_MC    := $(MC)
export S3FERRY_PROMTOOL := $(PROMTOOL)
export S3FERRY_VERSITYGW := $(VERSITYGW)

SCALE ?= 100000
# INDEX_SCALE=N: then N synthetic records in the index (10M indexed: SCALE=1000000
# INDEX_SCALE=9000000). BENCH_FLAGS: more flags for s3ferry-bench (-h lists them).
INDEX_SCALE ?= 0
BENCH_FLAGS ?=
# fuzz: how long each fuzz target runs.
FUZZTIME ?= 30s

.PHONY: all build run test test-compat check bench packages clean tools fuzz

all: build

build: bin/s3ferry

bin/s3ferry: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/s3ferry

FORCE:

## run: a demo: local MinIO, a versioned bucket, a generated recordings tree, two s3ferry syncs,
## then s3ferry run uploading a file dropped while it runs; both keep running until Ctrl-C.
run: build $(MINIO)
	$(GO) run ./cmd/s3ferry-demo -s3ferry bin/s3ferry -minio $(MINIO) -dir demo

## test: every test, unit and integration, with the race detector; the
## compatibility tests against MinIO and VersityGW (SeaweedFS's skip).
test: $(MINIO) $(MC) $(PROMTOOL) $(VERSITYGW)
	$(GO) test -race -count=1 -timeout 60m ./...

## test-compat: the compatibility tests (the Bucket conformance suite and the
## end-to-end set, over HTTP and HTTPS) against MinIO, VersityGW and SeaweedFS.
COMPAT_TESTS := ^(TestCompat.*|TestStartEveryKind)$$
test-compat: export S3FERRY_WEED := $(WEED)
test-compat: $(MINIO) $(MC) $(VERSITYGW) $(WEED)
	$(GO) test -race -count=1 -timeout 30m -run '$(COMPAT_TESTS)' ./uploader/s3test ./uploader/s3 ./cmd/s3ferry

## fuzz: every fuzz target for FUZZTIME each (go test -fuzz takes one at a time);
## a crasher lands in the package's testdata/fuzz/ and fails the run. make test
## already runs every target over its committed corpus.
fuzz:
	@set -e; for dir in $$($(GO) list -f '{{.Dir}}' ./...); do \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | cut -c6-); do \
	    echo "fuzz $$target in $$dir for $(FUZZTIME)"; \
	    $(GO) test $$dir -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

## check: formatting, vet, staticcheck, go.mod tidiness.
check: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go') $$(git ls-files --others --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@cp go.mod go.mod.check && cp go.sum go.sum.check; \
	  $(GO) mod tidy; \
	  diff -q go.mod go.mod.check >/dev/null && diff -q go.sum go.sum.check >/dev/null; rc=$$?; \
	  mv go.mod.check go.mod; mv go.sum.check go.sum; \
	  if [ $$rc -ne 0 ]; then echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; fi

## bench: the speed scenarios, and s3ferry beside s5cmd and mc in the same run; prints a table.
## SCALE=1000000 for the large run.
bench: build $(MINIO) $(MC) $(S5CMD)
	$(GO) run ./cmd/s3ferry-bench -s3ferry bin/s3ferry -minio $(MINIO) -mc $(MC) -s5cmd $(S5CMD) -scale $(SCALE) -index-scale $(INDEX_SCALE) $(BENCH_FLAGS)

## packages: dist/s3ferry_<version>_<arch>.deb and dist/s3ferry-<version>.<arch>.rpm for ARCH.
packages: $(NFPM) docs
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/linux-$(ARCH)/s3ferry ./cmd/s3ferry
	mkdir -p $(DIST)
	$(NFPM_ENV) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DIST)/s3ferry_$(PKG_VERSION)_$(ARCH).deb
	$(NFPM_ENV) $(NFPM) package --config packaging/nfpm.yaml --packager rpm --target $(DIST)/s3ferry-$(PKG_VERSION).$(RPM_ARCH).rpm

# docs: what the packages install beside the binary, generated from the
# command definitions, never kept by hand: the man page from `s3ferry docs
# man`, the completions from `s3ferry completion`, the same scripts a go
# install user prints (the host's build, so any ARCH works).
DOCS   := bin/docs

.PHONY: docs
docs: build
	mkdir -p $(DOCS)
	bin/s3ferry docs man | gzip -n -9 > $(DOCS)/s3ferry.1.gz
	bin/s3ferry completion bash > $(DOCS)/s3ferry.bash
	bin/s3ferry completion zsh > $(DOCS)/_s3ferry
	bin/s3ferry completion fish > $(DOCS)/s3ferry.fish

tools: $(MINIO) $(MC) $(NFPM) $(STATICCHECK) $(PROMTOOL) $(S5CMD) $(VERSITYGW) $(WEED)

$(MINIO):
	GOBIN=$(dir $@) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

$(MC):
	GOBIN=$(dir $@) $(GO) install github.com/minio/mc@$(MC_VERSION)

$(NFPM):
	GOBIN=$(dir $@) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# $(call build_in_scratch,PACKAGE,VERSION,GO.MOD EXTRA): build PACKAGE@VERSION
# into $@ inside a scratch module, for a tool `go install pkg@version`
# refuses or cannot resolve; GO.MOD EXTRA (printf text) is added to the
# scratch go.mod.
build_in_scratch = rm -rf $(dir $@)build && mkdir -p $(dir $@)build && \
	cd $(dir $@)build && \
	  printf 'module tool-build\n\ngo 1.24\n$(3)' > go.mod && \
	  GOFLAGS=-mod=mod $(GO) get $(1)@$(2) && \
	  GOFLAGS=-mod=mod $(GO) build -o $@ $(1) && \
	  rm -rf $(dir $@)build

# promtool's module has a replace directive, so `go install pkg@version`
# refuses it: the scratch module repeats the directive.
$(PROMTOOL):
	$(call build_in_scratch,github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION),\nreplace github.com/fsnotify/fsnotify v1.8.0 => github.com/fsnotify/fsnotify v1.7.0\n)

$(VERSITYGW):
	GOBIN=$(dir $@) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# SeaweedFS's module has replace directives, which `go install pkg@version`
# refuses and a scratch module would have to repeat: build ./weed inside a
# writable copy of the downloaded module instead, with its own go.mod.
$(WEED):
	rm -rf $(dir $@)build && mkdir -p $(dir $@)build
	src=$$(cd $(dir $@)build && $(GO) mod download -json github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION) | \
	    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	  test -n "$$src" && cp -R "$$src/." $(dir $@)build && chmod -R u+w $(dir $@)build
	cd $(dir $@)build && $(GO) build -o $@ ./weed
	rm -rf $(dir $@)build

# s5cmd (make bench's peer): `go install pkg@version` fails resolving its
# module's version list, `go get` of the exact version does not.
$(S5CMD):
	$(call build_in_scratch,github.com/peak/s5cmd/v2,$(S5CMD_VERSION))

clean:
	rm -rf bin dist demo

# ---- Release hygiene: notices, release (issue 16) ----------------------------

# THIRD_PARTY_NOTICES lists the licences of the Go modules compiled into
# s3ferry (cmd/s3ferry-notices reads them from the binary and the module
# cache). It is checked in; `make check` fails when it is stale.
NOTICES        ?= THIRD_PARTY_NOTICES
NOTICES_BINARY ?= bin/notices/s3ferry
# s3ferry built as the packages build it; the notices are the same for every architecture.
build_notices_binary = CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(NOTICES_BINARY) ./cmd/s3ferry
# $(call check_notices,BINARY): fail unless $(NOTICES) is what the modules linked into BINARY make.
check_notices = $(GO) run ./cmd/s3ferry-notices -o $(1).notices $(1) && \
	{ cmp -s $(1).notices $(NOTICES) || \
	  { echo "$(NOTICES) is stale (the modules linked into s3ferry changed): run make notices and commit it"; exit 1; }; }

# Releases: RELEASE_ARCHES are Go architectures; SIGNING_KEY a gpg key id
# (environment or make variable) that signs SHA256SUMS; unset, it is not signed.
RELEASE_ARCHES ?= amd64 arm64
RELEASE_DIR    ?= $(DIST)/release-$(VERSION)
SIGNING_KEY    ?=
RELEASE_NAME    = s3ferry_$(VERSION:v%=%)_linux_$(1)
RELEASE_DOCS   := LICENSE THIRD_PARTY_NOTICES README.md CHANGELOG.md
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: notices notices-check release release-sums
check: notices-check

## notices: regenerate THIRD_PARTY_NOTICES from the modules linked into s3ferry.
notices:
	$(build_notices_binary)
	$(GO) run ./cmd/s3ferry-notices -o $(NOTICES) $(NOTICES_BINARY)

## notices-check (part of check): fails when $(NOTICES) is not what `make notices` writes.
notices-check:
	@$(build_notices_binary)
	@$(call check_notices,$(NOTICES_BINARY))

## release: VERSION=v0.x.y → $(RELEASE_DIR): per arch a tar.gz (binary, licences, docs), .deb and .rpm
## (each binary's notices checked); SHA256SUMS, signed with SIGNING_KEY.
release: $(NFPM)
	@case '$(VERSION)' in v[0-9]*.[0-9]*.[0-9]*) ;; \
	  *) echo "make release: VERSION=$(VERSION) is not a release version: make release VERSION=v0.x.y"; exit 2 ;; esac
	@[ "$$(git describe --tags --exact-match 2>/dev/null)" = '$(VERSION)' ] || \
	  echo "note: HEAD is not tagged $(VERSION) (or the tree is dirty): tag it before publishing this release"
	rm -rf $(RELEASE_DIR)
	mkdir -p $(RELEASE_DIR)
	set -e; for arch in $(RELEASE_ARCHES); do \
	  $(MAKE) --no-print-directory packages ARCH=$$arch VERSION=$(VERSION) DIST=$(RELEASE_DIR); \
	  $(call check_notices,bin/linux-$$arch/s3ferry); \
	  name=$(call RELEASE_NAME,$$arch); \
	  mkdir -p bin/release/$$name; \
	  cp bin/linux-$$arch/s3ferry $(RELEASE_DOCS) bin/release/$$name/; \
	  mkdir bin/release/$$name/docs && cp docs/*.md bin/release/$$name/docs/; \
	  tar -C bin/release --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) -cf - $$name | \
	    gzip -n > $(RELEASE_DIR)/$$name.tar.gz; \
	  rm -rf bin/release/$$name; \
	done
	@$(MAKE) --no-print-directory release-sums
	@echo "release $(VERSION) in $(RELEASE_DIR):"; ls -1 $(RELEASE_DIR)

# release-sums: SHA256SUMS of what is in RELEASE_DIR, always; SHA256SUMS.asc when SIGNING_KEY is set.
release-sums:
	rm -f $(RELEASE_DIR)/SHA256SUMS $(RELEASE_DIR)/SHA256SUMS.asc
	cd $(RELEASE_DIR) && sha256sum -- *.tar.gz *.deb *.rpm > SHA256SUMS
	@if [ -n '$(SIGNING_KEY)' ]; then \
	  gpg --batch --yes --local-user '$(SIGNING_KEY)' --armor --detach-sign --output $(RELEASE_DIR)/SHA256SUMS.asc $(RELEASE_DIR)/SHA256SUMS && \
	  echo "signed $(RELEASE_DIR)/SHA256SUMS with $(SIGNING_KEY): SHA256SUMS.asc"; \
	else \
	  echo "SHA256SUMS is not signed: no SIGNING_KEY (make release VERSION=$(VERSION) SIGNING_KEY=<gpg key id> signs it)"; \
	fi
