//! A store that re-creates its table when the table is gone (storage lost it,
//! someone deleted it) and retries the call once, so the service recovers by
//! itself, as it would after a restart. Reconcile then re-adopts every group
//! gamefleet tagged.

use crate::fleet::{ContainerGroupName, Etag, GroupKey, GroupRecord, ResourceGroup, Versioned};
use crate::ports::{BatchOutcome, FleetStore, ListQuery, Page, SessionWrite, StoreError};
use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};

#[derive(Debug)]
pub struct Healing<S> {
    inner: S,
    /// One re-creation at a time.
    healing: tokio::sync::Mutex<()>,
}

impl<S: FleetStore> Healing<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            healing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn heal(&self) -> Result<(), StoreError> {
        let _one = self.healing.lock().await;
        tracing::warn!("the fleet table is missing: creating it again");
        self.inner.ensure_ready().await
    }
}

/// Run `$call`; if the table is missing, re-create it and run `$call` once more.
macro_rules! healing {
    ($self:ident, $call:expr) => {{
        match $call {
            Err(StoreError::TableMissing) => {
                $self.heal().await?;
                $call
            }
            other => other,
        }
    }};
}

#[async_trait]
impl<S: FleetStore> FleetStore for Healing<S> {
    async fn ensure_ready(&self) -> Result<(), StoreError> {
        self.inner.ensure_ready().await
    }

    async fn insert(&self, record: &GroupRecord) -> Result<Etag, StoreError> {
        healing!(self, self.inner.insert(record).await)
    }

    async fn get(&self, key: &GroupKey) -> Result<Option<Versioned<GroupRecord>>, StoreError> {
        healing!(self, self.inner.get(key).await)
    }

    async fn get_many(
        &self,
        rg: &ResourceGroup,
        names: &[ContainerGroupName],
    ) -> Result<Vec<Versioned<GroupRecord>>, StoreError> {
        healing!(self, self.inner.get_many(rg, names).await)
    }

    async fn get_at(
        &self,
        partition: &str,
        name: &ContainerGroupName,
    ) -> Result<Option<Versioned<GroupRecord>>, StoreError> {
        healing!(self, self.inner.get_at(partition, name).await)
    }

    async fn get_many_at(
        &self,
        partition: &str,
        names: &[ContainerGroupName],
    ) -> Result<Vec<Versioned<GroupRecord>>, StoreError> {
        healing!(self, self.inner.get_many_at(partition, names).await)
    }

    async fn delete_at(
        &self,
        partition: &str,
        name: &ContainerGroupName,
        etag: &Etag,
    ) -> Result<(), StoreError> {
        healing!(self, self.inner.delete_at(partition, name, etag).await)
    }

    async fn replace(&self, record: &GroupRecord, etag: &Etag) -> Result<Etag, StoreError> {
        healing!(self, self.inner.replace(record, etag).await)
    }

    async fn delete(&self, key: &GroupKey, etag: Option<&Etag>) -> Result<(), StoreError> {
        healing!(self, self.inner.delete(key, etag).await)
    }

    /// A missing table is healed when the first page finds it so (the table
    /// is then empty: the listing is read again from the start); a later page
    /// passes its error on.
    fn list_pages<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Page> {
        let first = async move {
            let mut pages = self.inner.list_pages(query);
            let mut head = pages.next().await;
            if let Some(Err(StoreError::TableMissing)) = head {
                if let Err(e) = self.heal().await {
                    return stream::iter([Err(e)]).boxed();
                }
                pages = self.inner.list_pages(query);
                head = pages.next().await;
            }
            match head {
                Some(page) => stream::iter([page]).chain(pages).boxed(),
                None => stream::empty().boxed(),
            }
        };
        stream::once(first).flatten().boxed()
    }

    async fn write_sessions(
        &self,
        rg: &ResourceGroup,
        writes: &[SessionWrite],
    ) -> Result<BatchOutcome, StoreError> {
        let first = self.inner.write_sessions(rg, writes).await;
        match first {
            Err(StoreError::TableMissing)
            | Ok(BatchOutcome::Failed {
                error: StoreError::TableMissing,
                ..
            }) => {
                self.heal().await?;
                self.inner.write_sessions(rg, writes).await
            }
            other => other,
        }
    }
}
