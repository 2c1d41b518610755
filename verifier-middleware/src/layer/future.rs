//! The response future shared by [`JwtAuth`](super::JwtAuth) and
//! [`RequireClaims`](super::RequireClaims).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::guard::ClaimGuard;
use crate::claims::VerifiedClaims;
use crate::rejection::Rejection;

type Verification = Pin<Box<dyn Future<Output = Result<VerifiedClaims, Rejection>> + Send>>;

pin_project! {
    /// Response future of [`JwtAuth`](super::JwtAuth) and [`RequireClaims`](super::RequireClaims):
    /// a rejection, the inner service's future, or (only when keys must be downloaded first) a
    /// verification followed by the inner call.
    pub struct ResponseFuture<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Rejected { response: Option<Response<ResBody>> },
        Verifying {
            verification: Verification,
            // Taken once the verification ends, to make the inner call.
            call: Option<(S, Request<ReqBody>, ClaimGuard)>,
        },
        Calling { #[pin] future: S::Future },
    }
}

impl<S, ReqBody, ResBody> ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    /// The answer for `rejection`: the RFC 6750 response, or its gRPC form when `request`
    /// is a gRPC call.
    pub(crate) fn rejected<B>(rejection: Rejection, request: &Request<B>) -> Self
    where
        ResBody: From<Bytes>,
    {
        tracing::debug!(reason = %rejection, status = rejection.status().as_u16(), "request rejected");
        let response = if is_grpc(request) {
            rejection.into_grpc_response()
        } else {
            rejection.into_response()
        };
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    /// Waits for `verification`, then checks `guard` and calls `inner` (already ready) with the
    /// claims in the request's extensions.
    pub(crate) fn verifying(
        verification: Verification,
        inner: S,
        request: Request<ReqBody>,
        guard: ClaimGuard,
    ) -> Self {
        Self {
            state: State::Verifying {
                verification,
                call: Some((inner, request, guard)),
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Rejected { response } => {
                    let response = response.take().expect("polled after completion");
                    return Poll::Ready(Ok(response));
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Verifying { verification, call } => {
                    let outcome = ready!(verification.as_mut().poll(cx));
                    let (mut inner, mut request, guard) =
                        call.take().expect("polled after completion");
                    let next = match outcome.and_then(|claims| guard.admit(claims)) {
                        Ok(claims) => {
                            request.extensions_mut().insert(claims);
                            Self::calling(inner.call(request))
                        }
                        Err(rejection) => Self::rejected(rejection, &request),
                    };
                    this.state.set(next.state);
                }
            }
        }
    }
}

/// Whether `request` is a gRPC call (`content-type: application/grpc`, `+proto`, ...).
fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

impl<S, ReqBody, ResBody> fmt::Debug for ResponseFuture<S, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
