package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Config configures an S3-compatible bucket.
type S3Config struct {
	Endpoint  string // base URL of the S3 API, such as http://minio:9000
	Region    string // "us-east-1" when empty
	Bucket    string
	AccessKey string
	SecretKey string
	// PublicURL is the prefix browsers fetch objects from: the bucket's
	// public URL, a CDN, or a path nginx proxies to the bucket.
	PublicURL string
	// HTTPClient talks to Endpoint; nil means http.DefaultClient's
	// transport. Tests pass one that dials a Unix socket.
	HTTPClient *http.Client
}

// S3 stores objects in an S3-compatible bucket (AWS S3, MinIO, versitygw,
// Ceph RGW, ...). Path-style addressing is used so any endpoint works
// without wildcard DNS.
type S3 struct {
	client    *s3.Client
	bucket    string
	publicURL string
}

// NewS3 returns a store for cfg. It does not contact the endpoint; the
// first request reports an unreachable or misconfigured one.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("blob: S3 needs an endpoint and a bucket")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	creds := aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey, Source: "bazaar config"}
	opts := s3.Options{
		BaseEndpoint: aws.String(cfg.Endpoint),
		Region:       cfg.Region,
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
		// Checksums only where the API demands them: not every
		// S3-compatible server understands the SDK's default trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	return &S3{client: s3.New(opts), bucket: cfg.Bucket, publicURL: strings.TrimSuffix(cfg.PublicURL, "/")}, nil
}

// Put uploads data in one request; S3 makes it visible atomically.
func (s *S3) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String(contentType),
		CacheControl:  aws.String(CacheControl),
	})
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// Open downloads the object.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return nil, notFound(key)
	} else if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return out.Body, nil
}

// Delete removes the object; S3 answers success for a missing key too.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// URL is PublicURL/key.
func (s *S3) URL(key string) string { return s.publicURL + "/" + key }

// CreateBucket makes the bucket if it does not exist yet (for `make run`,
// tests and first deploys; production buckets are usually made by hand).
func (s *S3) CreateBucket(ctx context.Context) error {
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}
