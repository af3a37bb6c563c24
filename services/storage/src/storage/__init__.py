"""Storage service: presigned uploads and downloads, multipart, file metadata."""
