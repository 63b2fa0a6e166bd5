//! An object store for fault-injection tests: a test's hook runs around every `put`, all else
//! goes straight to the wrapped store. One delegation for every such test (a failing put, a writer
//! that sneaks in between read and put).

use std::fmt;
use std::sync::Arc;

use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions,
    PutPayload, PutResult,
};

/// What a [`PutHooked`] store does around each `put` of the wrapped store.
#[async_trait::async_trait]
pub trait OnPut: fmt::Debug + Send + Sync + 'static {
    /// Before the put; an error is the put's answer and the put is not made.
    async fn before(&self) -> object_store::Result<()>;

    /// After the put, with its mode and answer.
    fn after(&self, _mode: &PutMode, _answer: &object_store::Result<PutResult>) {}
}

/// `inner` with `hook` around its puts.
#[derive(Debug)]
pub struct PutHooked<H> {
    pub inner: Arc<dyn ObjectStore>,
    pub hook: H,
}

impl<H> fmt::Display for PutHooked<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PutHooked({})", self.inner)
    }
}

#[async_trait::async_trait]
impl<H: OnPut> ObjectStore for PutHooked<H> {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        self.hook.before().await?;
        let mode = opts.mode.clone();
        let answer = self.inner.put_opts(location, payload, opts).await;
        self.hook.after(&mode, &answer);
        answer
    }
    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<Path>>) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
