//! List, page by page: the table's query pages go out as they come, so memory
//! stays flat in the fleet's size (one page being read, one being sent).
//!
//! The rows come in key order (Table Storage's order), with the original
//! project's rows moved to their canonical key on the way ([`Adopter`]).
//! Nothing is sent before the first rows are in hand: a store failure before
//! then is a plain error with its status. A failure after rows went out can
//! only end the answer early (see [`crate::http::functions::list`]).

use super::migrate::Adopter;
use super::{App, OpsError};
use crate::fleet::{GroupRecord, GroupState, ResourceGroup};
use crate::ports::{ListQuery, StoreError};
use futures::stream::{self, BoxStream, StreamExt};

/// List's rows, a page at a time, in key order; an item after the first may
/// be an error (the listing stops there).
pub type Rows = BoxStream<'static, Result<Vec<GroupRecord>, OpsError>>;

/// What the listing task hands the answer.
enum Msg {
    Rows(Result<Vec<GroupRecord>, OpsError>),
    Done,
}

impl App {
    /// Every matching group, in key order (all in memory: [`App::list_rows`]
    /// streams them).
    pub async fn list(
        &self,
        state: Option<GroupState>,
        resource_group: Option<ResourceGroup>,
    ) -> Result<Vec<GroupRecord>, OpsError> {
        let mut rows = self.list_rows(state, resource_group).await?;
        let mut all = Vec::new();
        while let Some(page) = rows.next().await {
            all.extend(page?);
        }
        Ok(all)
    }

    /// The whole fleet counted for the metrics gauges, a page at a time (the
    /// original project's rows as they are: counting moves nothing).
    pub async fn fleet_gauges(&self) -> Result<crate::metrics::Census, OpsError> {
        let now = crate::fleet::record::now();
        Ok(self.census_scan(now, |_| {}).await?)
    }

    /// Every row of the table, a page at a time, counted at `now`; `visit`
    /// sees each row as it is counted (the dashboard keeps the first ones).
    pub(crate) async fn census_scan(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        mut visit: impl FnMut(&GroupRecord),
    ) -> Result<crate::metrics::Census, StoreError> {
        let mut census = crate::metrics::Census::default();
        let query = ListQuery::ByState {
            state: None,
            resource_group: None,
        };
        let mut pages = self.store.list_pages(&query);
        while let Some(page) = pages.next().await {
            for v in page? {
                census.add(&v.value, self.unhealthy(&v.value), now);
                visit(&v.value);
            }
        }
        Ok(census)
    }

    /// Every matching group as a stream of pages in key order. Returns once
    /// the first rows are read (or the listing is known to be empty): an
    /// error until then is returned here, not in the stream.
    ///
    /// The pages are read by a task of their own, at most one page ahead of
    /// the reader; the task stops when the reader drops the stream.
    pub async fn list_rows(
        &self,
        state: Option<GroupState>,
        resource_group: Option<ResourceGroup>,
    ) -> Result<Rows, OpsError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let app = self.clone();
        tokio::spawn(async move {
            let query = ListQuery::ByState {
                state,
                resource_group,
            };
            let mut pages = app.store.list_pages(&query);
            let mut adopter = Adopter::default();
            while let Some(page) = pages.next().await {
                let rows = match page {
                    Ok(rows) => match adopter.page(&app, rows).await {
                        (rows, None) => Ok(app.shown(rows, state)),
                        (_, Some(e)) => Err(e),
                    },
                    Err(e) => Err(e.into()),
                };
                let failed = rows.is_err();
                if tx.send(Msg::Rows(rows)).await.is_err() || failed {
                    return;
                }
            }
            let rest = app.shown(adopter.finish(), state);
            if !rest.is_empty() && tx.send(Msg::Rows(Ok(rest))).await.is_err() {
                return;
            }
            let _ = tx.send(Msg::Done).await;
        });
        // Wait for the first rows: an empty page (a filter that matched
        // nothing in it) decides nothing yet.
        let first = loop {
            match rx.recv().await {
                Some(Msg::Rows(Ok(rows))) if rows.is_empty() => continue,
                Some(Msg::Rows(Ok(rows))) => break rows,
                Some(Msg::Rows(Err(e))) => return Err(e),
                Some(Msg::Done) => return Ok(stream::empty().boxed()),
                None => return Err(stopped()),
            }
        };
        let rest = stream::unfold(Some(rx), |rx| async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(Msg::Rows(rows)) => Some((rows, Some(rx))),
                Some(Msg::Done) => None,
                // The task ended without saying it was done (it panicked):
                // never let a cut listing look complete.
                None => Some((Err(stopped()), None)),
            }
        });
        Ok(stream::iter([Ok(first)]).chain(rest).boxed())
    }

    /// The rows List shows from one page: in `state`, and for the Running
    /// view (what a matchmaker may send players to) only healthy ones.
    fn shown(
        &self,
        rows: Vec<crate::fleet::Versioned<GroupRecord>>,
        state: Option<GroupState>,
    ) -> Vec<GroupRecord> {
        rows.into_iter()
            .map(|v| v.value)
            .filter(|r| state.is_none_or(|s| r.state == s))
            .filter(|r| state != Some(GroupState::Running) || !self.unhealthy(r))
            .collect()
    }
}

fn stopped() -> OpsError {
    OpsError::Store(StoreError::Unavailable {
        message: "the listing stopped before its last page".into(),
        retry_after: None,
    })
}
