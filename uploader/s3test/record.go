package s3test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// SeenRequest is a request a FaultProxy received while it recorded: what
// a test asserts the client sent (lock headers, checksums).
type SeenRequest struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
}

// Record starts (or with false stops) keeping the requests the proxy
// receives, for Seen.
func (p *FaultProxy) Record(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recording = on
}

// Seen returns the requests received while recording, in order of arrival.
func (p *FaultProxy) Seen() []SeenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

func (p *FaultProxy) note(r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.recording {
		p.seen = append(p.seen, SeenRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
	}
}

// Checksum returns the content checksum r carries as S3 takes it beside
// Object Lock headers: Content-MD5, an x-amz-checksum-* header, or an
// x-amz-checksum-* trailer announced by x-amz-trailer; "" for none.
func (r SeenRequest) Checksum() string {
	if r.Header.Get("Content-MD5") != "" {
		return "Content-MD5"
	}
	for name := range r.Header {
		if n := strings.ToLower(name); strings.HasPrefix(n, "x-amz-checksum-") && n != "x-amz-checksum-type" && n != "x-amz-checksum-algorithm" {
			return n
		}
	}
	if t := strings.ToLower(r.Header.Get("X-Amz-Trailer")); strings.HasPrefix(t, "x-amz-checksum-") {
		return "trailer " + t
	}
	return ""
}

// Op names the S3 operation of an object request by its method and query:
// PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
// PutObjectRetention, PutObjectLegalHold, or "" for another.
func (r SeenRequest) Op() string {
	q := r.Query
	switch {
	case r.Method == http.MethodPut && q.Has("retention"):
		return "PutObjectRetention"
	case r.Method == http.MethodPut && q.Has("legal-hold"):
		return "PutObjectLegalHold"
	case r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId"):
		return "UploadPart"
	case r.Method == http.MethodPut && len(q) == 0 || r.Method == http.MethodPut && q.Has("x-id") && q.Get("x-id") == "PutObject":
		return "PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	}
	return ""
}
