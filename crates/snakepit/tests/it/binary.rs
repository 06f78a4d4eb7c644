//! Binary values through a real Python worker: bytes and numpy arrays in arguments, results,
//! stream chunks and host calls, in both encodings; bad markers fail the call clearly.

use futures_util::StreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use snakepit::value::{Buffer, Dtype, NdArray};
use snakepit::{Pool, PythonAdapter, StreamItem};

use crate::support;

fn binary_adapter(encoding: &str) -> PythonAdapter {
    PythonAdapter::new("binary_adapter:BinaryAdapter")
        .python(support::python())
        .python_path(support::python_support_dir())
        .env("SNAKEPIT_ENCODINGS", encoding)
}

async fn binary_pool(encoding: &str) -> Pool {
    support::builder(binary_adapter(encoding), 1)
        .start()
        .await
        .unwrap()
}

#[derive(serde::Serialize)]
struct One<'a, T> {
    value: &'a T,
}

#[derive(serde::Serialize)]
struct Arr<'a> {
    array: &'a NdArray,
}

/// An array of `dtype` with `count` elements, its bytes drawn from `seed`.
fn array_of(dtype: Dtype, count: usize, seed: u8) -> NdArray {
    let bytes: Vec<u8> = (0..count * dtype.itemsize())
        .map(|i| {
            let byte = (i as u8).wrapping_mul(31).wrapping_add(seed);
            // bool elements must be 0 or 1 for numpy to keep them as they are.
            if dtype == Dtype::Bool { byte & 1 } else { byte }
        })
        .collect();
    NdArray::new(dtype, vec![count], bytes).unwrap()
}

const DTYPES: [Dtype; 14] = [
    Dtype::Bool,
    Dtype::Int8,
    Dtype::Int16,
    Dtype::Int32,
    Dtype::Int64,
    Dtype::Uint8,
    Dtype::Uint16,
    Dtype::Uint32,
    Dtype::Uint64,
    Dtype::Float16,
    Dtype::Float32,
    Dtype::Float64,
    Dtype::Complex64,
    Dtype::Complex128,
];

#[test]
fn bytes_and_arrays_of_every_dtype_round_trip_exactly() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pools =
        runtime.block_on(async { (binary_pool("msgpack").await, binary_pool("json").await) });
    let config = ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    };
    proptest!(config, |(dtype in 0..DTYPES.len(), bytes in 60_000_usize..70_000, seed in any::<u8>(), json in any::<bool>())| {
        let dtype = DTYPES[dtype];
        let pool = if json { &pools.1 } else { &pools.0 };
        let array = array_of(dtype, bytes / dtype.itemsize(), seed);
        let raw = Buffer::from(array.data().to_vec());
        let (array_back, raw_back) = runtime.block_on(async {
            let array_back: NdArray = pool.call("echo").args(&One { value: &array }).unwrap().send_as().await.unwrap();
            let raw_back: Buffer = pool.call("echo").args(&One { value: &raw }).unwrap().send_as().await.unwrap();
            (array_back, raw_back)
        });
        prop_assert_eq!(&array_back, &array);
        prop_assert_eq!(&raw_back, &raw);
    });
    runtime.block_on(async {
        pools.0.shutdown().await;
        pools.1.shutdown().await;
    });
}

#[tokio::test]
async fn python_gets_a_read_only_numpy_view_and_returns_new_arrays() {
    for encoding in ["msgpack", "json"] {
        let pool = binary_pool(encoding).await;
        let array = NdArray::from_vec((0..12).map(f64::from).collect(), &[3, 4]).unwrap();
        let raw = Buffer::from(vec![1_u8, 2, 3]);
        let described: Value = pool
            .call("describe")
            .args(&One {
                value: &(&array, &raw),
            })
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(
            described,
            json!([
                {"type": "ndarray", "dtype": "float64", "shape": [3, 4], "view": true, "writeable": false},
                {"type": "bytes"}
            ]),
            "{encoding}"
        );
        let written: String = pool
            .call("write")
            .args(&Arr { array: &array })
            .unwrap()
            .send_as()
            .await
            .unwrap();
        assert_eq!(written, "ValueError", "{encoding}");
        let doubled: NdArray = pool
            .call("double")
            .args(&Arr { array: &array })
            .unwrap()
            .send_as()
            .await
            .unwrap();
        assert_eq!(doubled.shape(), &[3, 4]);
        let expected: Vec<f64> = (0..12).map(|i| f64::from(i) * 2.0).collect();
        assert_eq!(doubled.as_slice::<f64>().unwrap(), &expected[..]);
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn bytes_like_results_come_back_as_buffers_and_as_tagged_json() {
    #[derive(serde::Deserialize)]
    struct Raw {
        bytes: Buffer,
        bytearray: Buffer,
        memoryview: Buffer,
    }
    for encoding in ["msgpack", "json"] {
        let pool = binary_pool(encoding).await;
        let expected: Vec<u8> = (0..70_000_u32).map(|i| (i % 251) as u8).collect();
        let raw: Raw = pool
            .call("raw")
            .json(json!({"size": 70_000}))
            .send_as()
            .await
            .unwrap();
        for buffer in [raw.bytes, raw.bytearray, raw.memoryview] {
            assert_eq!(&buffer[..], &expected[..], "{encoding}");
            // Over the threshold, plain bytes go in shared memory in both encodings, even
            // though msgpack could carry them inline.
            assert!(
                buffer.is_shared(),
                "{encoding}: bytes over the threshold came inline"
            );
        }
        let dynamic = pool.execute("raw", json!({"size": 3})).await.unwrap();
        assert_eq!(
            dynamic["bytes"],
            json!({"__snakepit_buffer__": {"base64": "AAEC"}}),
            "{encoding}"
        );
        let back: Buffer = serde_json::from_value(dynamic["memoryview"].clone()).unwrap();
        assert_eq!(&back[..], &[0, 1, 2]);
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn stream_chunks_carry_arrays() {
    let pool = binary_pool("msgpack").await;
    let array = NdArray::from_vec(vec![1_i32, 2, 3], &[3]).unwrap();
    #[derive(serde::Serialize)]
    struct Chunks<'a> {
        array: &'a NdArray,
        count: usize,
    }
    #[derive(serde::Deserialize)]
    struct Part {
        i: i32,
        part: NdArray,
    }
    let mut stream = pool
        .call("chunks")
        .args(&Chunks {
            array: &array,
            count: 3,
        })
        .unwrap()
        .stream()
        .await
        .unwrap()
        .typed::<Part, NdArray>();
    let mut seen = 0;
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            StreamItem::Chunk(part) => {
                let expected: Vec<i32> = [1, 2, 3].iter().map(|x| x * part.i).collect();
                assert_eq!(part.part.as_slice::<i32>().unwrap(), &expected[..]);
                seen += 1;
            }
            StreamItem::Done(result) => assert_eq!(result, array),
        }
    }
    assert_eq!(seen, 3);
    let mut dynamic = pool
        .call("chunks")
        .args(&Chunks {
            array: &array,
            count: 1,
        })
        .unwrap()
        .stream()
        .await
        .unwrap();
    let Some(Ok(StreamItem::Chunk(chunk))) = dynamic.next().await else {
        panic!("no chunk");
    };
    let part: NdArray = serde_json::from_value(chunk["part"].clone()).unwrap();
    assert_eq!(part.as_slice::<i32>().unwrap(), &[0, 0, 0]);
    pool.shutdown().await;
}

#[tokio::test]
async fn host_tools_take_and_return_arrays() {
    use snakepit::tool::HostTool;
    #[derive(serde::Deserialize)]
    struct Args {
        value: NdArray,
    }
    for encoding in ["msgpack", "json"] {
        let pool = binary_pool(encoding).await;
        pool.register_host_tool(HostTool::typed(
            "negate",
            "Negates a float32 array.",
            |_call, args: Args| async move {
                let negated: Vec<f32> = args.value.as_slice::<f32>()?.iter().map(|x| -x).collect();
                NdArray::from_vec(negated, args.value.shape())
            },
        ));
        let array = NdArray::from_vec(vec![1.5_f32, -2.0, 4.0, 0.0], &[2, 2]).unwrap();
        #[derive(serde::Serialize)]
        struct Round<'a> {
            name: &'a str,
            value: &'a NdArray,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            answer: NdArray,
            arrived: Value,
        }
        let answer: Answer = pool
            .call("host_roundtrip")
            .args(&Round {
                name: "negate",
                value: &array,
            })
            .unwrap()
            .send_as()
            .await
            .unwrap();
        assert_eq!(
            answer.answer.as_slice::<f32>().unwrap(),
            &[-1.5, 2.0, -4.0, -0.0]
        );
        assert_eq!(answer.arrived["type"], "ndarray", "{encoding}");
        assert_eq!(answer.arrived["view"], true);
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn a_bad_marker_fails_the_call_clearly_and_the_worker_lives_on() {
    let pool = binary_pool("msgpack").await;
    let err = pool
        .execute("bad_marker", json!({"index": 5}))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("buffer marker 5 points past the 1 buffers"),
        "{text}"
    );
    let err = pool
        .execute("bad_marker", json!({"index": 0}))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("needs 8 bytes, but its buffer holds 1"),
        "{err}"
    );
    let echoed = pool.execute("echo", json!({"value": 1})).await.unwrap();
    assert_eq!(echoed, json!(1));
    assert_eq!(pool.stats().restarts, 0);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_session_tensor_variable_reaches_python_as_an_array() {
    use snakepit::session::{Constraints, VariableSpec};
    let pool = binary_pool("msgpack").await;
    pool.sessions().create("s1", None).unwrap();
    let weights = VariableSpec::Tensor {
        shape: Some(vec![2, 2]),
        dtype: Some(Dtype::Float32),
    };
    let stored = pool
        .sessions()
        .define_variable("s1", "weights", weights, json!([[1.5, 2.0], [3.0, -4.0]]))
        .unwrap();
    let array = stored.array.clone().unwrap();
    assert_eq!(array.as_slice::<f32>().unwrap(), &[1.5, 2.0, 3.0, -4.0]);
    assert_eq!(stored.value, json!([[1.5, 2.0], [3.0, -4.0]]));
    pool.sessions()
        .register_variable(
            "s1",
            "query",
            snakepit::session::VariableType::Embedding,
            json!([0.25, 0.5]),
            Constraints::default(),
        )
        .unwrap();
    #[derive(serde::Deserialize)]
    struct Seen {
        arrived: Value,
        value: NdArray,
    }
    let seen: Seen = pool
        .call("variable")
        .json(json!({"name": "weights"}))
        .session("s1")
        .send_as()
        .await
        .unwrap();
    assert_eq!(
        seen.arrived,
        json!({"type": "ndarray", "dtype": "float32", "shape": [2, 2], "view": true, "writeable": false})
    );
    assert_eq!(seen.value, array);
    let seen: Seen = pool
        .call("variable")
        .json(json!({"name": "query"}))
        .session("s1")
        .send_as()
        .await
        .unwrap();
    assert_eq!(seen.arrived["dtype"], "float64");
    assert_eq!(seen.value.as_slice::<f64>().unwrap(), &[0.25, 0.5]);
    let listed = pool
        .call("list_variables")
        .json(json!({}))
        .session("s1")
        .send()
        .await
        .unwrap();
    assert_eq!(listed["weights"]["dtype"], "float32", "{listed}");
    assert_eq!(listed["query"]["dtype"], "float64", "{listed}");
    assert_eq!(listed["query"]["shape"], json!([2]), "{listed}");
    assert_eq!(listed["weights"]["sum"], json!(2.5), "{listed}");
    assert_eq!(listed["query"]["sum"], json!(0.75), "{listed}");
    // Python sets the tensor with a numpy array: it is stored as that array.
    let doubled = NdArray::from_vec(vec![3.0_f32, 4.0, 6.0, -8.0], &[2, 2]).unwrap();
    #[derive(serde::Serialize)]
    struct Set<'a> {
        name: &'a str,
        value: &'a NdArray,
    }
    pool.call("set_variable")
        .args(&Set {
            name: "weights",
            value: &doubled,
        })
        .unwrap()
        .session("s1")
        .send()
        .await
        .unwrap();
    let stored = pool.sessions().get_variable("s1", "weights").unwrap();
    assert_eq!(stored.array.as_ref(), Some(&doubled));
    assert_eq!(stored.version, 1);
    let wrong = NdArray::from_vec(vec![1.0_f64; 4], &[2, 2]).unwrap();
    let err = pool
        .call("set_variable")
        .args(&Set {
            name: "weights",
            value: &wrong,
        })
        .unwrap()
        .session("s1")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected float32"), "{err}");
    pool.shutdown().await;
}
