// Package packaging turns s3ferry into a service on a file server: the nfpm
// configuration of the .deb and .rpm (`make packages`), the systemd units,
// the default configuration, the sysctl drop-in, the example IAM policy,
// the maintainer scripts and the .deb's copyright file. It holds no Go code:
// its tests build the packages and a release (`make release`) and check
// them, and with S3FERRY_TEST_INSTALL=1 install the .deb here.
package packaging
