//! Number and date/time pictures: `$formatNumber`, `$formatInteger`,
//! `$parseInteger`, `$fromMillis`, `$toMillis` (XPath F&O 3.1 pictures).

use super::Error;
use super::eval::{Evaluator, Frame};
use super::value::V;
use std::rc::Rc;

type R = Result<V, Error>;

pub fn format_number(_: &mut Evaluator, _args: &[V], _: &V, _: &Rc<Frame>) -> R {
    Err(Error::eval("D3100", "$formatNumber is not implemented yet"))
}
pub fn format_integer(_: &mut Evaluator, _args: &[V], _: &V, _: &Rc<Frame>) -> R {
    Err(Error::eval("D3100", "$formatInteger is not implemented yet"))
}
pub fn parse_integer(_: &mut Evaluator, _args: &[V], _: &V, _: &Rc<Frame>) -> R {
    Err(Error::eval("D3100", "$parseInteger is not implemented yet"))
}
pub fn to_millis(_: &mut Evaluator, _args: &[V], _: &V, _: &Rc<Frame>) -> R {
    Err(Error::eval("D3100", "$toMillis is not implemented yet"))
}
pub fn from_millis(_: &mut Evaluator, _args: &[V], _: &V, _: &Rc<Frame>) -> R {
    Err(Error::eval("D3100", "$fromMillis is not implemented yet"))
}
