//! Loading a model from any bytes, as XGBoost JSON or as the compact form: an error or a model
//! that scores; a model loaded from JSON reads back identically from its compact form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use traffic_core::model::Model;

fn scores(model: &Model) {
    let row = vec![0.5f32; model.num_features()];
    let _ = model.probabilities(&row);
    let _ = model.contributions(&row);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((model, compact)) = Model::from_json_with_compact(text) {
            let again = Model::from_compact(&compact).expect("a model's own compact form loads");
            let row = vec![0.25f32; model.num_features()];
            assert_eq!(model.probabilities(&row).ok(), again.probabilities(&row).ok());
            scores(&model);
        }
    }
    if let Ok(model) = Model::from_compact(data) {
        scores(&model);
    }
});
