// Package storagetest starts an S3-compatible server for tests, on this
// machine only: moto_server, a separate process (the test is skipped when
// it is not installed), stopped when the test ends. Package fakegcs
// starts a Google Cloud Storage emulator.
package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 is a running moto_server.
type S3 struct {
	// Endpoint is the server's address, http://127.0.0.1:PORT.
	Endpoint string
	// Query is what a storage URL needs to reach it:
	// endpoint=…&use_path_style=true&region=us-east-1.
	Query  string
	client *s3.Client
}

// URL is s3://bucket/key with the server's query.
func (s *S3) URL(bucket, key string) string {
	return "s3://" + bucket + "/" + key + "?" + s.Query
}

// StartS3 starts moto_server on a free port of 127.0.0.1 and sets the
// test's AWS environment to dummy credentials (no instance metadata
// lookups, no shared config files). It skips the test when moto_server is
// not on PATH (pip install 'moto[server]').
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed (pip install 'moto[server]'): the S3 tests need an S3-compatible server on 127.0.0.1")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_PROFILE", "")
	port := freePort(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Skipf("moto_server did not start: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its process group: the pyenv shim's children too
		<-done
	}
	t.Cleanup(stop)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("moto_server exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s in 30 s: %v\n%s", endpoint, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	return &S3{Endpoint: endpoint, Query: "endpoint=" + endpoint + "&use_path_style=true&region=us-east-1", client: client}
}

// Bucket creates a bucket.
func (s *S3) Bucket(t testing.TB, name string) {
	t.Helper()
	if _, err := s.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Public lets anyone read and list the bucket (a bucket policy, and the
// public-read ACL on its objects so far), as a
// public data set does.
func (s *S3) Public(t testing.TB, bucket string) {
	t.Helper()
	policy := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]},` +
		`{"Effect":"Allow","Principal":"*","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::` + bucket + `"]}]}`
	if _, err := s.client.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("bucket policy of %s: %v", bucket, err)
	}
	// moto checks HeadObject against the objects' ACLs.
	for _, k := range s.Keys(t, bucket, "") {
		if _, err := s.client.PutObjectAcl(context.Background(), &s3.PutObjectAclInput{Bucket: aws.String(bucket), Key: aws.String(k), ACL: types.ObjectCannedACLPublicRead}); err != nil {
			t.Fatalf("acl of s3://%s/%s: %v", bucket, k, err)
		}
	}
}

// Put stores an object with the SDK (not through package storage).
func (s *S3) Put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	if _, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// Get reads an object with the SDK.
func (s *S3) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	out, err := s.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	return b.Bytes()
}

// Keys lists a bucket's keys under prefix with the SDK.
func (s *S3) Keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	out, err := s.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

// FreePort is a free TCP port of 127.0.0.1.
func FreePort(t testing.TB) int { return freePort(t) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
