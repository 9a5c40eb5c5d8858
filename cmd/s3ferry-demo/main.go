// Command s3ferry-demo is `make run`: it starts a local MinIO on loopback,
// creates a versioned bucket, generates a small recordings tree and runs
// s3ferry sync on it twice (everything, then only what is new), printing
// what happened and how to look at the bucket.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3ferry/s3ferry/uploader"
	"github.com/s3ferry/s3ferry/uploader/s3test"
)

func main() {
	bin := flag.String("s3ferry", "bin/s3ferry", "s3ferry binary")
	minio := flag.String("minio", "", "MinIO binary")
	dir := flag.String("dir", "demo", "where the demo tree and index go")
	wait := flag.Bool("wait", true, "keep MinIO running until Ctrl-C so you can look at the bucket")
	flag.Parse()
	if *minio != "" {
		os.Setenv("S3FERRY_MINIO", *minio)
	}
	if err := run(*bin, *dir, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(bin, dir string, wait bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	root := filepath.Join(dir, "RECORDINGS")
	idx := filepath.Join(dir, "index")

	step("starting MinIO on loopback")
	srv, stopMinIO, err := s3test.StartMain()
	if err != nil {
		return err
	}
	defer stopMinIO()
	client, err := uploader.NewClient(ctx, srv.Config(), srv.LoadOptions()...)
	if err != nil {
		return err
	}
	const bucket = "call-recording-backup"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket: aws.String(bucket), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("enable versioning: %w", err)
	}
	fmt.Printf("   bucket %s (versioned) at %s\n", bucket, srv.Endpoint)

	step("generating a recordings tree: 7 days x 3 agents x 10 calls")
	for d := range 7 {
		day := time.Now().AddDate(0, 0, -d).Format("2006-01-02")
		for a := 1; a <= 3; a++ {
			for c := range 10 {
				p := filepath.Join(root, day, fmt.Sprintf("agent%02d", a), fmt.Sprintf("call-%s-%03d.wav", day, c))
				if err := write(p, fmt.Sprintf("RIFF demo recording %s %d %d", day, a, c)); err != nil {
					return err
				}
			}
		}
	}

	args := []string{"sync", root, "s3://" + bucket + "/recordings/", "--partition-layout", "2006-01-02",
		"--lookback", "48h", "--settle", "0s", "--index-dir", idx, "--no-progress"}
	env := append(os.Environ(), srv.Env()...)

	step("first run: empty index, so a full walk uploads everything")
	if err := show(ctx, bin, env, args); err != nil {
		return err
	}
	step("a new call lands in today's folder; the next run walks only the last 48h")
	today := time.Now().Format("2006-01-02")
	if err := write(filepath.Join(root, today, "agent07", "call-new.wav"), "RIFF a brand new call"); err != nil {
		return err
	}
	if err := show(ctx, bin, env, args); err != nil {
		return err
	}

	step("look at the bucket")
	var env2 []string
	for _, kv := range srv.Env() {
		if strings.HasPrefix(kv, "AWS_") {
			env2 = append(env2, kv)
		}
	}
	fmt.Printf("   %s aws s3 ls --recursive s3://%s/recordings/%s/\n", strings.Join(env2, " "), bucket, today)
	fmt.Printf("   (or any S3 client: endpoint %s, path-style, the keys above)\n", srv.Endpoint)
	fmt.Printf("   run it again yourself: %s %s\n", strings.Join(env2, " "), strings.Join(append([]string{bin}, args...), " "))
	if wait {
		fmt.Println("\nMinIO keeps running until you press Ctrl-C.")
		<-ctx.Done()
	}
	return nil
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

func show(ctx context.Context, bin string, env, args []string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	fmt.Printf("   $ s3ferry %s\n", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("s3ferry sync: %w", err)
	}
	return nil
}

func write(p, content string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		return err
	}
	old := time.Now().Add(-time.Minute)
	return os.Chtimes(p, old, old)
}
