"""Builders of cart XML files to the published layouts (GE MUSE, GE CardioSoft, Philips
SierraECG incl. an XLI encoder, HL7 aECG), shared by the XML reader tests, plus
tests of the builders themselves."""

from __future__ import annotations

import base64
import struct

import numpy as np

from heartcare.ecg.leads import STANDARD_LEADS

FS = 500.0
MUSE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def distinct_leads(fs: float = FS, seconds: float = 2.0) -> dict[str, np.ndarray]:
    """mV per standard lead, each its own sine frequency, amplitude and phase."""
    time = np.arange(int(fs * seconds)) / fs
    return {
        name: (0.2 + 0.1 * index) * np.sin(2 * np.pi * (1.0 + 0.75 * index) * time + 0.3 * index)
        for index, name in enumerate(STANDARD_LEADS)
    }


def digital(values_mv: np.ndarray, microvolts_per_bit: float, offset: int = 0) -> np.ndarray:
    """int16 samples a cart would store for `values_mv` at this resolution and offset."""
    return (np.round(values_mv * 1000.0 / microvolts_per_bit) + offset).astype("<i2")


def base64_int16(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, dtype="<i2").tobytes()).decode("ascii")


# --- GE MUSE -------------------------------------------------------------------------------

def muse_waveform(kind: str, leads: dict[str, np.ndarray], fs: float, units_per_bit: float) -> str:
    parts = []
    for name, values in leads.items():
        samples = digital(values, units_per_bit)
        parts.append(
            f"<LeadData><LeadByteCountTotal>{2 * len(samples)}</LeadByteCountTotal>"
            f"<LeadSampleCountTotal>{len(samples)}</LeadSampleCountTotal>"
            f"<LeadAmplitudeUnitsPerBit>{units_per_bit}</LeadAmplitudeUnitsPerBit>"
            f"<LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits><LeadID>{name}</LeadID>"
            f"<WaveFormData>{base64_int16(samples)}</WaveFormData></LeadData>"
        )
    return (f"<Waveform><WaveformType>{kind}</WaveformType><WaveformStartTime>0</WaveformStartTime>"
            f"<NumberofLeads>{len(leads)}</NumberofLeads><SampleType>CONTINUOUS_SAMPLES</SampleType>"
            f"<SampleBase>{int(fs)}</SampleBase><SampleExponent>0</SampleExponent>{''.join(parts)}</Waveform>")


def muse_xml(leads: dict[str, np.ndarray], fs: float = FS, units_per_bit: float = 4.88,
             median: dict[str, np.ndarray] | None = None) -> str:
    """A MUSE <RestingECG> export: rhythm (and median) waveforms of `leads`, findings."""
    measurements = ("<RestingECGMeasurements><VentricularRate>64</VentricularRate><AtrialRate>64</AtrialRate>"
                    "<PRInterval>156</PRInterval><QRSDuration>88</QRSDuration><QTInterval>392</QTInterval>"
                    "<QTCorrected>404</QTCorrected><PAxis>54</PAxis><RAxis>45</RAxis><TAxis>38</TAxis>"
                    "</RestingECGMeasurements>")
    diagnosis = ("<Diagnosis><Modality>RESTING</Modality>"
                 "<DiagnosisStatement><StmtText>Normal sinus rhythm</StmtText></DiagnosisStatement>"
                 "<DiagnosisStatement><StmtFlag>ENDSLINE</StmtFlag><StmtText>with sinus arrhythmia</StmtText>"
                 "</DiagnosisStatement><DiagnosisStatement><StmtFlag>ENDSLINE</StmtFlag>"
                 "<StmtText>Normal ECG</StmtText></DiagnosisStatement></Diagnosis>")
    waveforms = muse_waveform("Rhythm", leads, fs, units_per_bit)
    if median is not None:
        waveforms = muse_waveform("Median", median, fs, units_per_bit) + waveforms
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n'
            "<RestingECG><MuseInfo><MuseVersion>8.0.2.10132</MuseVersion></MuseInfo>"
            "<PatientDemographics><PatientID>MRN123</PatientID><PatientAge>52</PatientAge>"
            "<AgeUnits>YEARS</AgeUnits><Gender>MALE</Gender></PatientDemographics>"
            "<TestDemographics><DataType>RESTING</DataType><AcquisitionDate>01-02-2003</AcquisitionDate>"
            f"<AcquisitionTime>10:11:12</AcquisitionTime></TestDemographics>{measurements}{diagnosis}"
            f"{waveforms}</RestingECG>")


# --- GE CardioSoft ---------------------------------------------------------------------------

def cardiosoft_leads(tag: str, leads: dict[str, np.ndarray], fs: float, resolution: float) -> str:
    rows = "".join(
        f'<WaveformData lead="{name}">{",".join(map(str, digital(values, resolution).tolist()))}</WaveformData>'
        for name, values in leads.items()
    )
    count = len(next(iter(leads.values())))
    return (f'<{tag}><NumberOfLeads>{len(leads)}</NumberOfLeads><SampleRate units="Hz">{int(fs)}</SampleRate>'
            f'<ChannelSampleCountTotal>{count}</ChannelSampleCountTotal>'
            f'<Resolution units="uVperLsb">{resolution}</Resolution>{rows}</{tag}>')


def cardiosoft_xml(leads: dict[str, np.ndarray], fs: float = FS, resolution: float = 5.0,
                   median: dict[str, np.ndarray] | None = None, full_disclosure: bool = False) -> str:
    """A CardioSoft <CardiologyXML>: StripData (or FullDisclosure only), medians, findings."""
    medians = "" if median is None else cardiosoft_leads("MedianSamples", median, fs, resolution)
    measurements = ('<RestingECGMeasurements><VentricularRate units="BPM">71</VentricularRate>'
                    '<PQInterval units="ms">162</PQInterval><QRSDuration units="ms">94</QRSDuration>'
                    '<QTInterval units="ms">398</QTInterval><QTCInterval units="ms">425</QTCInterval>'
                    '<RRInterval units="ms">845</RRInterval><PAxis units="degrees">61</PAxis>'
                    f'<RAxis units="degrees">-12</RAxis><TAxis units="degrees">40</TAxis>{medians}'
                    "</RestingECGMeasurements>")
    interpretation = ("<Interpretation><Diagnosis><DiagnosisText>Sinus rhythm</DiagnosisText>"
                      "<DiagnosisText>Left axis deviation</DiagnosisText></Diagnosis>"
                      "<Conclusion><ConclusionText>Borderline ECG</ConclusionText></Conclusion></Interpretation>")
    if full_disclosure:
        names = list(leads)
        interleaved = np.stack([digital(leads[name], resolution) for name in names], axis=1).ravel()
        waveform = (f'<FullDisclosure><NumberOfChannels>{len(names)}</NumberOfChannels>'
                    f'<SampleRate units="Hz">{int(fs)}</SampleRate><Resolution units="uVperLsb">{resolution}'
                    f'</Resolution><LeadOrder>{",".join(names)}</LeadOrder>'
                    f'<FullDisclosureData>{",".join(map(str, interleaved.tolist()))},</FullDisclosureData>'
                    "</FullDisclosure>")
    else:
        waveform = cardiosoft_leads("StripData", leads, fs, resolution)
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<CardiologyXML><ObservationType>RestECG'
            '</ObservationType><PatientInfo><PID>UKB42</PID><Age units="years">63</Age><Gender>FEMALE</Gender>'
            f"</PatientInfo>{interpretation}{measurements}{waveform}</CardiologyXML>")


# --- Philips SierraECG -----------------------------------------------------------------------

def lzw_encode(data: bytes, bits: int = 10) -> bytes:
    """LZW with `bits`-bit codes packed most significant bit first, as XLI stores them."""
    max_code = (1 << bits) - 2  # the decoder treats the top code as invalid
    table = {bytes([value]): value for value in range(256)}
    next_code, word, codes = 256, b"", []
    for value in data:
        extended = word + bytes([value])
        if extended in table:
            word = extended
            continue
        codes.append(table[word])
        if next_code <= max_code:
            table[extended], next_code = next_code, next_code + 1
        word = bytes([value])
    if word:
        codes.append(table[word])
    stream = 0
    for code in codes:
        stream = (stream << bits) | code
    padding = (-len(codes) * bits) % 8
    return (stream << padding).to_bytes((len(codes) * bits + padding) // 8, "big")


def xli_chunk(samples: np.ndarray) -> bytes:
    """One lead as an XLI chunk: second-difference residuals (+64), split hi/lo bytes, LZW."""
    out = [int(value) for value in samples]
    start = 2 * out[1] - out[0] - out[2]
    stored = [out[0], out[1]] + [2 * out[j] - out[j - 1] - out[j + 1] + 64 for j in range(2, len(out) - 1)] + [0]
    words = np.asarray(stored, dtype=np.int64) & 0xFFFF
    buffer = bytes((words >> 8).astype(np.uint8)) + bytes((words & 0xFF).astype(np.uint8))
    compressed = lzw_encode(buffer)
    return struct.pack("<iHh", len(compressed), 0, start) + compressed


def xli_payload(leads: list[np.ndarray]) -> bytes:
    """All 12 leads, with III, aVR, aVL, aVF stored as residuals the way Philips carts do."""
    stored = [np.asarray(lead, dtype=np.int64) for lead in leads]
    lead_i, lead_ii, lead_iii = stored[0], stored[1], stored[2]
    stored[2] = lead_ii - lead_i - lead_iii
    stored[3] = -stored[3] - (lead_i + lead_ii) // 2
    stored[4] = (lead_i - lead_iii) // 2 - stored[4]
    stored[5] = (lead_ii + lead_iii) // 2 - stored[5]
    return b"".join(xli_chunk(lead) for lead in stored)


def philips_xml(leads: dict[str, np.ndarray], fs: float = FS, resolution: float = 5.0, offset: int = 0,
                compression: str = "Uncompressed", median: dict[str, np.ndarray] | None = None) -> str:
    """A Philips 1.04 <restingecgdata>: base64 (or XLI) leads, findings, repbeats."""
    names = list(leads)
    samples = [digital(leads[name], resolution, offset) for name in names]
    if compression == "XLI":
        payload = xli_payload(samples)
    else:
        payload = b"".join(np.asarray(lead, dtype="<i2").tobytes() for lead in samples)
    count = len(samples[0])
    repbeats = ""
    if median is not None:
        beats = "".join(
            f'<repbeat leadname="{name}"><waveform duration="{len(values) * 1000 / fs:g}">'
            f"{base64_int16(np.concatenate([digital(values, resolution), np.full(20, 32767)]))}</waveform></repbeat>"
            for name, values in median.items()
        )
        repbeats = f'<repbeats dataencoding="Base64" samplespersec="{fs:g}" resolution="{resolution}">{beats}</repbeats>'
    return ('<?xml version="1.0" encoding="utf-8"?>\n<restingecgdata xmlns="http://www3.medical.philips.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" status="Confirmed" lang="en">'
            "<documentinfo><documenttype>PhilipsECG</documenttype><documentversion>1.04</documentversion></documentinfo>"
            '<dataacquisition date="2021-03-04" time="05:06:07"><signalcharacteristics>'
            f"<samplingrate>{fs:g}</samplingrate><resolution>{resolution}</resolution>"
            "<acquisitiontype>STD-12</acquisitiontype><bitspersample>16</bitspersample>"
            f"<signaloffset>{offset}</signaloffset><numberchannelsallocated>12</numberchannelsallocated>"
            "</signalcharacteristics></dataacquisition>"
            "<patient><generalpatientdata><patientid>PH-7</patientid><age><years>61</years></age><sex>Female</sex>"
            "</generalpatientdata></patient>"
            "<internalmeasurements><crossleadmeasurements><qrsdur>999</qrsdur><pfrontaxis>12</pfrontaxis>"
            "</crossleadmeasurements></internalmeasurements>"
            "<interpretations><interpretation><globalmeasurements><heartrate>72</heartrate><rrint>833</rrint>"
            "<print>148</print><qrsdur>86</qrsdur><qtint>380</qtint><qtcb>417</qtcb><qtcf>Failed</qtcf>"
            "<qrsfrontaxis>30</qrsfrontaxis><tfrontaxis>45</tfrontaxis></globalmeasurements>"
            "<severity>- NORMAL ECG -</severity>"
            "<statement><statementcode>SR</statementcode><leftstatement>SINUS RHYTHM</leftstatement>"
            "<rightstatement>normal P axis, V-rate 50-99</rightstatement></statement>"
            "</interpretation></interpretations>"
            f'<waveforms><parsedwaveforms dataencoding="Base64" compression="{compression}" numberofleads="12" '
            f'leadlabels="{" ".join(names)}" durationperchannel="{count * 1000 / fs:g}" samplespersecond="{fs:g}" '
            f'resolution="{resolution}" signaloffset="{offset}" signalsigned="True" bitspersample="16" '
            f'hipass="0.05" lowpass="150" notchfiltered="False">{base64.b64encode(payload).decode()}'
            f"</parsedwaveforms>{repbeats}</waveforms></restingecgdata>")


# --- HL7 aECG --------------------------------------------------------------------------------

def hl7_sequence_set(leads: dict[str, np.ndarray], fs: float, scale_uv: float, origins_uv: dict[str, float]) -> str:
    time = ('<component><sequence><code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>'
            '<value xsi:type="GLIST_TS"><head value="20200101101010.000"/>'
            f'<increment value="{1000.0 / fs:g}" unit="ms"/></value></sequence></component>')
    rows = []
    for name, values in leads.items():
        origin = origins_uv.get(name, 0.0)
        digits = np.round((values * 1000.0 - origin) / scale_uv).astype(int)
        rows.append(
            f'<component><sequence><code code="MDC_ECG_LEAD_{name.upper()}" codeSystem="2.16.840.1.113883.6.24"/>'
            f'<value xsi:type="SLIST_PQ"><origin value="{origin:g}" unit="uV"/><scale value="{scale_uv:g}" unit="uV"/>'
            f'<digits>{" ".join(map(str, digits.tolist()))}</digits></value></sequence></component>'
        )
    return f"<component><sequenceSet>{time}{''.join(rows)}</sequenceSet></component>"


def hl7_annotation(code: str, value: str) -> str:
    return (f'<component><annotation><code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>'
            f"{value}</annotation></component>")


def hl7_xml(leads: dict[str, np.ndarray], fs: float = FS, scale_uv: float = 2.5,
            origins_uv: dict[str, float] | None = None, median: dict[str, np.ndarray] | None = None) -> str:
    """An HL7 <AnnotatedECG>: rhythm series (+ representative beat), global annotations."""
    origins = origins_uv or {}
    derived = "" if median is None else (
        '<derivation><derivedSeries><code code="REPRESENTATIVE_BEAT" codeSystem="2.16.840.1.113883.5.4"/>'
        f"{hl7_sequence_set(median, fs, scale_uv, origins)}</derivedSeries></derivation>")
    annotations = "".join([
        hl7_annotation("MDC_ECG_HEART_RATE", '<value xsi:type="PQ" value="58" unit="bpm"/>'),
        hl7_annotation("MDC_ECG_TIME_PD_PR", '<value xsi:type="PQ" value="0.172" unit="s"/>'),
        hl7_annotation("MDC_ECG_TIME_PD_QRS", '<value xsi:type="PQ" value="104" unit="ms"/>'),
        hl7_annotation("MDC_ECG_TIME_PD_QT", '<value xsi:type="PQ" value="420" unit="ms"/>'),
        hl7_annotation("MDC_ECG_TIME_PD_QTc", '<value xsi:type="PQ" value="413" unit="ms"/>'),
        hl7_annotation("MDC_ECG_ANGLE_QRS_FRONT", '<value xsi:type="PQ" value="-35" unit="deg"/>'),
        hl7_annotation("MDC_ECG_INTERPRETATION", hl7_annotation(
            "MDC_ECG_INTERPRETATION_STATEMENT", '<value xsi:type="ST">Sinus bradycardia</value>')),
    ])
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="61d1a24f-b47e-41aa-ae95-f8ac302f4eeb"/>'
            '<code code="93000" codeSystem="2.16.840.1.113883.6.12"/>'
            '<effectiveTime><low value="20200101101010"/><high value="20200101101020"/></effectiveTime>'
            "<componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>"
            '<id root="2.16.840.1.113883.3.5" extension="SUBJ-9"/><subjectDemographicPerson>'
            '<administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/></subjectDemographicPerson>'
            "</trialSubject></subject></subjectAssignment></componentOf></timepointEvent></componentOf>"
            '<component><series><id root="1"/><code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>'
            f"{hl7_sequence_set(leads, fs, scale_uv, origins)}{derived}"
            f"<subjectOf><annotationSet>{annotations}</annotationSet></subjectOf></series></component>"
            "</AnnotatedECG>")


def test_xli_encoder_round_trips_through_sierraecg() -> None:
    """The test encoder agrees with sierraecg's decoder, so XLI tests test the reader."""
    from sierraecg.xli import xli_decode

    lead = digital(distinct_leads()["V3"], 5.0)
    decoded = xli_decode(xli_chunk(lead), ["V3"])
    np.testing.assert_array_equal(decoded[0], lead)


def test_builders_give_distinct_leads() -> None:
    leads = distinct_leads()
    rows = np.stack(list(leads.values()))
    assert np.all(np.abs(np.corrcoef(rows) - np.eye(12)) < 0.99)
